# Tests of the memcached tier (tiers/memcached), against real memcached
# servers that the tests start on loopback ports and stop by PID
# (tests/fixtures/memcached_servers.sh).
pkg_check_modules(TEST_LIBMEMCACHED REQUIRED IMPORTED_TARGET libmemcached)

tierpage_add_check_test(test_memcached INTERNAL ${CMAKE_CURRENT_LIST_DIR}/test_memcached.c
  $<TARGET_OBJECTS:tp_memcached_common>)
target_include_directories(test_memcached PRIVATE ${CMAKE_SOURCE_DIR}/tiers/memcached ${CMAKE_SOURCE_DIR}/tiers/common)
target_compile_definitions(test_memcached PRIVATE TM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_link_libraries(test_memcached PRIVATE PkgConfig::TEST_LIBMEMCACHED)
add_dependencies(test_memcached tier_memcached)
set_tests_properties(test_memcached PROPERTIES LABELS memcached)

# memcached_app: memcached itself as the paged program, its data checked.
foreach(script memcached_plugin_test memcached_run memcached_app)
  add_test(NAME ${script} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    LABELS memcached TIMEOUT 900)
endforeach()
# tierpage run preloads the shim, whose malloc a sanitizer runtime cannot share.
set_tests_properties(memcached_run memcached_app PROPERTIES LABELS "memcached;preload")
# fork with the memcached tier: each child's pages under its own instance,
# gone from the servers when it ends or execs.
add_test(NAME fork_remote_memcached COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/fork_remote.sh memcached)
set_tests_properties(fork_remote_memcached PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  LABELS "memcached;preload" TIMEOUT 900)
