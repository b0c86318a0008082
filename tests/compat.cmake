# The compatibility suite: programs nobody here wrote (memtester, stress-ng,
# redis-server, python3, sqlite3, sort, gcc, QEMU), each run under
# `tierpage run` with a resident cap well below what it uses and a stack of
# dram then pmem (on /dev/shm), each checking its own results, compared
# with the same program's output without tierpage and with tierpage's
# stats showing it was paged. The short ones are in the default run; the
# long ones (label long) run with scripts/compat-long.sh.
function(tierpage_add_compat_test name script)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/${script} ${ARGN})
  # They preload the shim, whose malloc a sanitizer runtime cannot share.
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "TIERPAGE_SOURCE_DIR=${CMAKE_SOURCE_DIR};TIERPAGE_BUILD_DIR=${CMAKE_BINARY_DIR}"
    LABELS "compat;preload" TIMEOUT 900)
endfunction()

foreach(program memtester stress_ng redis python sqlite sort gcc)
  tierpage_add_compat_test(compat_${program} compat_${program}.sh)
endforeach()
set_tests_properties(compat_redis PROPERTIES LABELS "compat;preload;redis")

# memtester over 256 MiB through 64 MiB, every test up to solid bits.
tierpage_add_compat_test(compat_memtester_256 compat_memtester.sh 256M 64MiB 0x1ff)
set_tests_properties(compat_memtester_256 PROPERTIES LABELS "compat;preload;long" TIMEOUT 7200)
# QEMU (-accel tcg) booting a guest that runs memtester over most of its
# RAM, with the guest's RAM served through a cap below it.
tierpage_add_compat_test(compat_qemu compat_qemu.sh)
set_tests_properties(compat_qemu PROPERTIES LABELS "compat;preload;long" TIMEOUT 7200)
