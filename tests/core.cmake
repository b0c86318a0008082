tierpage_add_check_test(test_core ${CMAKE_SOURCE_DIR}/tests/test_core.c ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
tierpage_add_check_test(test_core_prefetch ${CMAKE_SOURCE_DIR}/tests/test_core_prefetch.c ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
tierpage_add_check_test(test_core_policy ${CMAKE_SOURCE_DIR}/tests/test_core_policy.c ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
target_link_libraries(test_core_policy PRIVATE m)

# A store that is full without saying how big it is, like a server out of memory.
add_library(tc_hidden_store MODULE ${CMAKE_SOURCE_DIR}/tests/fixtures/hidden_capacity_store.c)
target_link_libraries(tc_hidden_store PRIVATE Threads::Threads)
set_target_properties(tc_hidden_store PROPERTIES OUTPUT_NAME hidden PREFIX ""
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fixtures)
tierpage_add_check_test(test_core_writeback INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_core_writeback.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_writeback tc_hidden_store tier_dram tier_pmem)
# A stack a killed pager left, recovered without clearing its stores.
tierpage_add_check_test(test_core_recover INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_core_recover.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c ${CMAKE_SOURCE_DIR}/tests/killed_child.c)
add_dependencies(test_core_recover tier_dram tier_pmem tier_faulty)
# Kernels before 6.4's two-step write-protected mapping, taken on this one.
tierpage_add_check_test(test_core_two_step_wp INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_core_two_step_wp.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_two_step_wp tier_dram tier_faulty)
tierpage_add_check_test(test_core_placement INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_core_placement.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_placement tier_dram)
tierpage_add_check_test(test_core_thread_names ${CMAKE_SOURCE_DIR}/tests/test_core_thread_names.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_thread_names tier_dram)

# A core module tested alone, built from its sources (given after the
# test's own): no stack, no library internals.
function(tierpage_add_module_test name)
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${name}.c ${ARGN})
  target_link_libraries(${name} PRIVATE PkgConfig::CHECK Threads::Threads)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120)
endfunction()

# The page-state module, the resident set and the eviction policy.
tierpage_add_module_test(test_core_page_state ${CMAKE_SOURCE_DIR}/core/page_state.c
  ${CMAKE_SOURCE_DIR}/core/resident_set.c ${CMAKE_SOURCE_DIR}/core/page_map.c
  ${CMAKE_SOURCE_DIR}/core/page_map_file.c ${CMAKE_SOURCE_DIR}/core/eviction_policy.c)
# The page map kept in a file, written to by a process killed at random
# moments and read back.
tierpage_add_module_test(test_core_page_map_file ${CMAKE_SOURCE_DIR}/core/page_map.c
  ${CMAKE_SOURCE_DIR}/core/page_map_file.c ${CMAKE_SOURCE_DIR}/tests/killed_child.c)
# The write-back queue with a full store and pages its owner holds BUSY.
tierpage_add_module_test(test_core_writeback_queue ${CMAKE_SOURCE_DIR}/core/writeback.c ${CMAKE_SOURCE_DIR}/core/stale_keys.c
  ${CMAKE_SOURCE_DIR}/core/pager_thread.c)
# Reading written pages from the kernel (PAGEMAP_SCAN): a userfaultfd and
# a memfd of its own.
tierpage_add_module_test(test_core_written_pages ${CMAKE_SOURCE_DIR}/core/written_pages.c
  ${CMAKE_SOURCE_DIR}/core/uffd.c ${CMAKE_SOURCE_DIR}/core/pager_thread.c)

# Prefetch's fault-stream detector.
tierpage_add_module_test(test_core_prefetch_stream ${CMAKE_SOURCE_DIR}/core/prefetch_stream.c)

# What a tierpaged client records of the regions it handed over, to hand
# them over again to a daemon that comes back.
tierpage_add_module_test(test_core_daemon_handover ${CMAKE_SOURCE_DIR}/core/daemon_handover.c)

# Write tracking by the kernel beside write faults, dram and a real
# memcached (the fixture starts one on a free port).
tierpage_add_check_test(test_core_write_tracking ${CMAKE_SOURCE_DIR}/tests/test_core_write_tracking.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_write_tracking tier_dram tier_memcached)

# The data-path suite again with write faults (the scheme where the kernel
# lacks UFFD_FEATURE_WP_ASYNC, and for tierpaged's clients).
add_test(NAME test_core_write_faults COMMAND test_core)
set_tests_properties(test_core_write_faults PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR};CK_DEFAULT_TIMEOUT=120;TIERPAGE_WRITE_TRACKING=faults"
  TIMEOUT 600)
