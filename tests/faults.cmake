# Fault injection: the faulty store's plan on its own, the store through the
# conformance kit and stack files, and verified workloads over failing stores.
set(TF_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
tierpage_add_check_test(test_fault_plan ${TF_ROOT}/tests/test_fault_plan.c ${TF_ROOT}/tiers/faulty/fault_plan.c)
target_include_directories(test_fault_plan PRIVATE ${TF_ROOT}/tiers/faulty ${TF_ROOT}/tiers/common)
target_link_libraries(test_fault_plan PRIVATE tp_util)

foreach(script faulty_store)
  add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    TIMEOUT 300)
endforeach()

# Holds a stack open and reads its stats between a test's actions.
add_executable(stack_status ${TF_ROOT}/tests/programs/stack_status.c)
target_link_libraries(stack_status PRIVATE tierpage)
set_target_properties(stack_status PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

# Real servers that lose pages or stop answering under a verified run.
foreach(script faults_verified faults_outage faults_memcached_restart faults_memcached_stopped faults_pmem_full_fs faults_redis_stopped faults_redis_failover faults_redis_replicas)
  add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    LABELS preload TIMEOUT 300)
endforeach()
# Three verified runs, one with two copies of each page on three servers.
set_tests_properties(faults_memcached_stopped PROPERTIES TIMEOUT 600)

# The long run: many seeds, bigger workloads. Not in the default suite.
add_test(NAME faults_soak COMMAND bash ${CMAKE_SOURCE_DIR}/tests/faults_soak.sh)
set_tests_properties(faults_soak PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  LABELS "long;preload" TIMEOUT 7200)
