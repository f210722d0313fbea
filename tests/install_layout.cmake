# Installs the build into a scratch prefix and checks that every file is where it belongs.
set(prefix "${BUILD_DIR}/install-test")
file(REMOVE_RECURSE "${prefix}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f bin/streamgate bin/streamgated share/man/man1/streamgate.1 share/man/man8/streamgated.8
          share/man/man5/streamgate.yaml.5 share/man/man7/streamgate-control.7 share/bash-completion/completions/streamgate
          share/bash-completion/completions/streamgated share/zsh/vendor-completions/_streamgate
          share/fish/vendor_completions.d/streamgate.fish share/fish/vendor_completions.d/streamgated.fish
          etc/streamgate/streamgate.yaml lib/systemd/system/streamgated.service)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "missing after install: ${f}")
  endif()
endforeach()
file(REMOVE_RECURSE "${prefix}")
