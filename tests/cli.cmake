foreach(program mm_events itimer_signals)
  add_executable(${program} ${CMAKE_SOURCE_DIR}/tests/programs/${program}.c)
  set_target_properties(${program} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()

foreach(script cli_run cli_check cli_integrity cli_signals)
  add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    TIMEOUT 900)
endforeach()
# The shim replaces malloc, which a sanitizer runtime must own: the sanitizer
# pass of the suite leaves these out (ctest -LE preload).
set_tests_properties(cli_run cli_integrity PROPERTIES LABELS preload)
set_tests_properties(cli_signals PROPERTIES LABELS "preload;redis")
