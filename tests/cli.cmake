foreach(program mm_events mm_controls itimer_signals alloc_churn fork_cow sparse_map fork_workers close_all)
  add_executable(${program} ${CMAKE_SOURCE_DIR}/tests/programs/${program}.c)
  set_target_properties(${program} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()
# Functions named as the pager's, in the dynamic symbol table.
add_executable(own_tp_names ${CMAKE_SOURCE_DIR}/tests/programs/own_tp_names.c)
target_link_libraries(own_tp_names PRIVATE ${CMAKE_DL_LIBS})
target_link_options(own_tp_names PRIVATE -rdynamic)
set_target_properties(own_tp_names PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
# The same through libtierpage.so: names the library's calls must not reach.
add_executable(library_own_names ${CMAKE_SOURCE_DIR}/tests/programs/library_own_names.c)
target_link_libraries(library_own_names PRIVATE tierpage)
target_link_options(library_own_names PRIVATE -rdynamic)
set_target_properties(library_own_names PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
target_link_libraries(fork_cow PRIVATE Threads::Threads)
# A store that records its opens, for cli_run_opens_once.
add_library(tc_counting_store MODULE ${CMAKE_SOURCE_DIR}/tests/fixtures/counting_store.c)
set_target_properties(tc_counting_store PROPERTIES OUTPUT_NAME tierpage-counting PREFIX ""
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/fixtures)
# alloc_churn again, linked against Debian's jemalloc (libjemalloc-dev): a
# program with an allocator of its own. cli_allocators fails without it.
pkg_check_modules(JEMALLOC IMPORTED_TARGET jemalloc)
if(JEMALLOC_FOUND)
  add_executable(alloc_churn_jemalloc ${CMAKE_SOURCE_DIR}/tests/programs/alloc_churn.c)
  target_link_libraries(alloc_churn_jemalloc PRIVATE PkgConfig::JEMALLOC)
  set_target_properties(alloc_churn_jemalloc PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()

# alloc_churn again, not position-independent: its malloc is a PLT entry
# with an address, which dlsym finds ahead of the shim's (cli_allocators).
add_executable(alloc_churn_nopie ${CMAKE_SOURCE_DIR}/tests/programs/alloc_churn.c)
target_compile_options(alloc_churn_nopie PRIVATE -fno-pie)
target_link_options(alloc_churn_nopie PRIVATE -no-pie)
set_target_properties(alloc_churn_nopie PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

foreach(script cli_run cli_check cli_integrity cli_signals cli_allocators library_exports own_tp_names
    cli_run_opens_once cli_fork cli_sparse cli_threads cli_descriptors)
  add_test(NAME ${script} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/${script}.sh)
  set_tests_properties(${script} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    TIMEOUT 900)
endforeach()
# The shim replaces malloc, which a sanitizer runtime must own: the sanitizer
# pass of the suite leaves these out (ctest -LE preload).
set_tests_properties(cli_run cli_integrity cli_allocators own_tp_names cli_run_opens_once cli_fork cli_sparse cli_threads
  PROPERTIES LABELS preload)
set_tests_properties(cli_descriptors PROPERTIES LABELS "preload;memcached;daemon")
set_tests_properties(cli_signals PROPERTIES LABELS "preload;redis")
