# Tests of the rdma tier (tiers/rdma) and tierpage-memserver (memserver/).
# rdma_args runs anywhere; rdma_guest needs real verbs, so it boots a QEMU
# guest with Soft-RoCE (tests/guest/), or uses the host's RDMA device.
tierpage_add_check_test(test_rdma_placement ${CMAKE_CURRENT_LIST_DIR}/test_rdma_placement.c
  ${CMAKE_SOURCE_DIR}/tiers/rdma/rdma_placement.c)
target_include_directories(test_rdma_placement PRIVATE ${CMAKE_SOURCE_DIR}/tiers/rdma ${CMAKE_SOURCE_DIR}/tiers/common)
set_tests_properties(test_rdma_placement PROPERTIES LABELS rdma)

add_test(NAME rdma_args COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/rdma_args.sh)
add_test(NAME rdma_guest COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/rdma_guest.sh)
set_tests_properties(rdma_args rdma_guest PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
  LABELS rdma)
# The guest boots in about 5 s and runs its checks in about a minute here;
# the rest is room for a loaded machine.
set_tests_properties(rdma_guest PROPERTIES TIMEOUT 900 LABELS "rdma;preload")
set_tests_properties(rdma_args PROPERTIES TIMEOUT 120)
# The fork checks in a loop on the guest's Linux 6.1, whose two-step mapping
# of a page and its write protection is the path a host kernel of 6.4 or
# later never takes (scripts/rdma-fork-loop.sh): 30 rounds, about 3.5
# minutes here.
add_test(NAME rdma_guest_fork_loop COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/rdma_guest.sh)
set_tests_properties(rdma_guest_fork_loop PROPERTIES
  ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR};TIERPAGE_RDMA_CHECKS=fork-loop;TIERPAGE_GUEST_TIMEOUT=3000"
  LABELS "rdma;preload;long" TIMEOUT 3600)
