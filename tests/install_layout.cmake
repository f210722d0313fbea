# Installs the build into a scratch prefix and checks that every file is where it belongs, as the
# README and streamgated(8) describe it, and that what was installed works from there.
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
          etc/streamgate/streamgate.yaml lib/systemd/system/streamgated.service
          lib/sysusers.d/streamgate.conf share/streamgate/web/index.html)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "missing after install: ${f}")
  endif()
endforeach()

# The installed programs run from the prefix, and the installed example configuration is valid.
foreach(command "streamgate;version" "streamgated;--version")
  list(POP_FRONT command prog)
  execute_process(COMMAND "${prefix}/bin/${prog}" ${command} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installed ${prog} ${command} exited ${rc}: ${out}")
  endif()
endforeach()
execute_process(COMMAND "${prefix}/bin/streamgate" config validate
                        "${prefix}/etc/streamgate/streamgate.yaml"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "installed streamgate config validate etc/streamgate/streamgate.yaml "
                      "exited ${rc}:\n${out}")
endif()

# The systemd unit runs the installed daemon (Type=notify) with the installed configuration: the
# paths it names are those of the configured prefix, laid out as installed here.
file(READ "${prefix}/lib/systemd/system/streamgated.service" unit)
foreach(line "Type=notify" "ExecStart=[^\n]*/bin/streamgated\n"
             "Environment=STREAMGATE_CONFIG=[^\n]*/etc/streamgate/streamgate.yaml\n")
  if(NOT unit MATCHES "${line}")
    message(FATAL_ERROR "streamgated.service has no line matching '${line}':\n${unit}")
  endif()
endforeach()
file(REMOVE_RECURSE "${prefix}")
