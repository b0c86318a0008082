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
tierpage_add_check_test(test_core_placement INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_core_placement.c
  ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
add_dependencies(test_core_placement tier_dram)

# The page-state module, the resident set and the eviction policy alone,
# built from their sources: no stack, no library internals.
add_executable(test_core_page_state ${CMAKE_SOURCE_DIR}/tests/test_core_page_state.c
  ${CMAKE_SOURCE_DIR}/core/page_state.c ${CMAKE_SOURCE_DIR}/core/resident_set.c
  ${CMAKE_SOURCE_DIR}/core/page_map.c ${CMAKE_SOURCE_DIR}/core/eviction_policy.c)
target_link_libraries(test_core_page_state PRIVATE PkgConfig::CHECK Threads::Threads)
set_target_properties(test_core_page_state PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME test_core_page_state COMMAND test_core_page_state)
set_tests_properties(test_core_page_state PROPERTIES TIMEOUT 120)
