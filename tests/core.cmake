tierpage_add_check_test(test_core ${CMAKE_SOURCE_DIR}/tests/test_core.c ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
tierpage_add_check_test(test_core_policy ${CMAKE_SOURCE_DIR}/tests/test_core_policy.c ${CMAKE_SOURCE_DIR}/tests/core_fixture.c)
target_link_libraries(test_core_policy PRIVATE m)
