# Tests of tiers/redis. The shell tests start their own redis-server
# processes (tests/fixtures/redis_servers.sh) on free loopback ports and stop
# them by PID; a server that cannot start fails the test.
set(TR_REDIS_DIR ${CMAKE_SOURCE_DIR}/tiers/redis)

# The parts that need no server.
tierpage_add_check_test(test_redis INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_redis.c $<TARGET_OBJECTS:tier_redis_objs>)
target_include_directories(test_redis PRIVATE ${TR_REDIS_DIR} ${CMAKE_SOURCE_DIR}/tiers/common)
target_link_libraries(test_redis PRIVATE PkgConfig::HIREDIS)
set_tests_properties(test_redis PROPERTIES LABELS redis)

# The tier driven directly against real servers; run by redis_check.sh.
add_executable(test_redis_servers ${CMAKE_SOURCE_DIR}/tests/test_redis_servers.c $<TARGET_OBJECTS:tier_redis_objs>)
target_include_directories(test_redis_servers PRIVATE ${TR_REDIS_DIR} ${CMAKE_SOURCE_DIR}/tiers/common)
target_link_libraries(test_redis_servers PRIVATE tierpage_internal PkgConfig::CHECK PkgConfig::HIREDIS Threads::Threads)
set_target_properties(test_redis_servers PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

foreach(script redis_check redis_plugin redis_run redis_cluster)
  add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR};CK_DEFAULT_TIMEOUT=120"
    LABELS redis
    TIMEOUT 300)
endforeach()
# redis_run takes ~290 s at a load average of 9 on two vCPUs.
set_tests_properties(redis_run PROPERTIES TIMEOUT 600)
# The runs preload the shim, whose malloc a sanitizer runtime cannot share.
set_tests_properties(redis_run redis_cluster PROPERTIES LABELS "redis;preload")
# fork with the redis tier: each child's pages under its own instance,
# gone from the servers when it ends or execs.
add_test(NAME fork_remote_redis COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fork_remote.sh redis)
set_tests_properties(fork_remote_redis PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  LABELS "redis;preload" TIMEOUT 900)
