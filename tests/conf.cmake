tierpage_add_check_test(test_conf INTERNAL ${CMAKE_SOURCE_DIR}/tests/test_conf.c)
