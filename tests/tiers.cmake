# Tests of plugins/ (loader, conformance kit, example store) and tiers/ (dram, pmem).
set(TT_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
set(TT_FIXTURE_DIR ${CMAKE_BINARY_DIR}/tests/fixtures)

# Broken stores for the loader and the kit, one shared object per defect:
# tests/fixtures/bad-<defect>.so.
foreach(defect NO_SYMBOL NULL_TABLE ABI_NEXT SMALL NO_GET OLD_HEADER FORGETFUL)
  string(TOLOWER ${defect} lower)
  string(REPLACE "_" "-" lower ${lower})
  add_library(tt_bad_${lower} MODULE ${TT_ROOT}/tests/fixtures/bad_store.c)
  target_compile_definitions(tt_bad_${lower} PRIVATE BAD_STORE_${defect})
  set_target_properties(tt_bad_${lower} PROPERTIES
    OUTPUT_NAME bad-${lower} PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${TT_FIXTURE_DIR})
  list(APPEND TT_FIXTURES tt_bad_${lower})
endforeach()

# The example store for plugin authors, built as a fixture (it is not a
# built-in tier).
add_library(tt_example_store MODULE ${TT_ROOT}/plugins/example/example_store.c)
target_link_libraries(tt_example_store PRIVATE Threads::Threads)
set_target_properties(tt_example_store PROPERTIES
  OUTPUT_NAME example PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${TT_FIXTURE_DIR})
list(APPEND TT_FIXTURES tt_example_store)

# The example store as it was for ABI 1 and for ABI 2, each built against
# its header (both kept verbatim in tests/fixtures/abi_vN): a plugin built
# before the host services (1), or before usage's under_replicated_pages
# (2), must still load and pass the conformance kit.
foreach(abi 1 2)
  add_library(tt_example_abi${abi} MODULE ${TT_ROOT}/tests/fixtures/abi_v${abi}/example_store.c)
  target_include_directories(tt_example_abi${abi} BEFORE PRIVATE ${TT_ROOT}/tests/fixtures/abi_v${abi})
  target_link_libraries(tt_example_abi${abi} PRIVATE Threads::Threads)
  set_target_properties(tt_example_abi${abi} PROPERTIES
    OUTPUT_NAME example-abi${abi} PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${TT_FIXTURE_DIR})
  list(APPEND TT_FIXTURES tt_example_abi${abi})
endforeach()

tierpage_add_check_test(test_tiers INTERNAL ${TT_ROOT}/tests/test_tiers.c ${TT_ROOT}/tests/test_tier_stores.c
  ${TT_ROOT}/tests/test_store_host.c ${TT_ROOT}/tests/killed_child.c)
target_link_libraries(test_tiers PRIVATE tp_conformance_obj)
target_compile_definitions(test_tiers PRIVATE TT_BUILD_DIR="${CMAKE_BINARY_DIR}")
add_dependencies(test_tiers ${TT_FIXTURES} tier_dram tier_pmem)

# Out of tree: install the build into a temporary prefix, build the example
# store and a program against the installed files with pkg-config alone, run
# the installed plugin-test on the store and on the installed dram tier.
# A program linked against a sanitized library needs the sanitizer too.
if(TIERPAGE_SANITIZE)
  set(TT_PROGRAM_FLAGS -fsanitize=address,undefined)
endif()
add_test(NAME test_tiers_install_example
  COMMAND sh ${TT_ROOT}/tests/install_example.sh ${CMAKE_BINARY_DIR} ${TT_ROOT})
set_tests_properties(test_tiers_install_example PROPERTIES TIMEOUT 600
  ENVIRONMENT "CMAKE=${CMAKE_COMMAND};CC=${CMAKE_C_COMPILER};PROGRAM_FLAGS=${TT_PROGRAM_FLAGS}")
