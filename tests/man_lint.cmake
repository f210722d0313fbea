# Fails on any mandoc lint message of level warning or worse.
execute_process(COMMAND ${MANDOC} -T lint -W warning ${PAGE} RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT "${out}${err}" STREQUAL "")
  message(FATAL_ERROR "mandoc -T lint ${PAGE}:\n${out}${err}")
endif()
