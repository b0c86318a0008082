# tierpaged: real daemons, real clients (tierpage-bench, pattern_holder),
# real sockets. The clients are preloaded with the shim: not under the
# sanitizers (label preload).
add_executable(pattern_holder ${CMAKE_SOURCE_DIR}/tests/programs/pattern_holder.c)
add_executable(daemon_garbage ${CMAKE_SOURCE_DIR}/tests/programs/daemon_garbage.c)
target_include_directories(daemon_garbage PRIVATE ${CMAKE_SOURCE_DIR}/daemon)
# A client that speaks the protocol itself and outlives a killed daemon.
add_executable(resume_client ${CMAKE_SOURCE_DIR}/tests/programs/resume_client.c $<TARGET_OBJECTS:tp_wire_obj>)
target_include_directories(resume_client PRIVATE ${CMAKE_SOURCE_DIR}/daemon)
target_link_libraries(resume_client PRIVATE Threads::Threads)
set_target_properties(pattern_holder daemon_garbage resume_client PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# A sanitized build given TIERPAGE_CLIENT_BUILD_DIR (a plain build) runs
# these too: its own tierpaged, under the sanitizers, serving that build's
# clients (label daemon alone, not preload).
set(TIERPAGE_CLIENT_BUILD_DIR "" CACHE PATH
    "A plain build whose clients the daemon tests run against this build's tierpaged")
set(daemon_env "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}")
set(daemon_labels "daemon;preload")
if(TIERPAGE_CLIENT_BUILD_DIR)
  string(APPEND daemon_env ";TIERPAGE_CLIENT_BUILD_DIR=${TIERPAGE_CLIENT_BUILD_DIR}")
  set(daemon_labels "daemon")
endif()
foreach(script daemon_serve daemon_operate daemon_security daemon_programs daemon_failure daemon_metrics daemon_log daemon_budget
    daemon_fork daemon_reload daemon_reconnect daemon_state daemon_recover daemon_restart
    daemon_recover_remote daemon_timeout daemon_prefetch)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${script}.sh)
    add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
    set_tests_properties(${script} PROPERTIES ENVIRONMENT "${daemon_env}" LABELS "${daemon_labels}" TIMEOUT 600)
  endif()
endforeach()

# tierpaged SIGKILLed at least 20 times under each of tierpage-bench
# --verify and a QEMU guest's memtester, started again each time on its
# state (label long, scripts/daemon-kill-loop.sh). Like the tests above, a
# sanitized build runs its own tierpaged under the plain build's clients.
add_test(NAME daemon_kill_loop COMMAND bash ${CMAKE_SOURCE_DIR}/tests/daemon_kill_loop.sh)
set_tests_properties(daemon_kill_loop PROPERTIES ENVIRONMENT "${daemon_env}" LABELS "${daemon_labels};long"
  TIMEOUT 3600)

# Two QEMU guests under one daemon, with the operator's moves during their
# memory tests: a short memory test through a 48 MiB cap here, a long one
# through 64 MiB (label long, scripts/daemon-vms-long.sh).
add_test(NAME daemon_vms COMMAND bash ${CMAKE_SOURCE_DIR}/tests/daemon_vms.sh)
add_test(NAME daemon_vms_long COMMAND bash ${CMAKE_SOURCE_DIR}/tests/daemon_vms.sh 168M 3 0x3 64)
set_tests_properties(daemon_vms daemon_vms_long PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}")
set_tests_properties(daemon_vms PROPERTIES LABELS "daemon;preload" TIMEOUT 1800)
set_tests_properties(daemon_vms_long PROPERTIES LABELS "daemon;preload;long" TIMEOUT 7200)

# The install's manual pages and systemd unit.
add_test(NAME install_packaging COMMAND bash ${CMAKE_SOURCE_DIR}/tests/install_packaging.sh)
set_tests_properties(install_packaging PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  LABELS "daemon" TIMEOUT 300)
