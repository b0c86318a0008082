tierpage_add_check_test(test_conf ${CMAKE_SOURCE_DIR}/tests/test_conf.c)
