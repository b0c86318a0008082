# tierpage-bench run plainly (no tierpage) with --verify: the workload and its
# verifier are right on their own before they judge tierpage. Runs under
# `tierpage run` are the core's tests.
set(TIERPAGE_BENCH_BIN ${CMAKE_BINARY_DIR}/bin/tierpage-bench)

function(tierpage_bench_test name script)
  add_test(NAME ${name} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/${script} ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endfunction()

foreach(pattern random zipf seq)
  tierpage_bench_test(bench_verify_${pattern} bench_verify.sh
    ${TIERPAGE_BENCH_BIN} --size 16MiB --pattern ${pattern})
endforeach()
tierpage_bench_test(bench_verify_malloc bench_verify.sh
  ${TIERPAGE_BENCH_BIN} --size 16MiB --pattern random --alloc malloc)
tierpage_bench_test(bench_verify_mixed_reads bench_verify.sh
  ${TIERPAGE_BENCH_BIN} --size 16MiB --pattern zipf --write-ratio 0.3 --accesses 200000)
tierpage_bench_test(bench_verify_detects_corruption bench_corrupt.sh ${TIERPAGE_BENCH_BIN})
tierpage_bench_test(bench_bad_arguments bench_args.sh ${TIERPAGE_BENCH_BIN})
tierpage_bench_test(bench_uffd_floor bench_uffd_floor.sh ${CMAKE_BINARY_DIR}/bin/tierpage-uffd-floor)
tierpage_bench_test(bench_kv bench_kv.sh ${CMAKE_BINARY_DIR}/bin/tierpage-kv-bench) # starts its own memcached and redis-server
tierpage_bench_test(bench_verify_threads bench_verify.sh
  ${TIERPAGE_BENCH_BIN} --size 16MiB --pattern random --threads 8)
tierpage_bench_test(bench_verify_threads_shared bench_verify.sh
  ${TIERPAGE_BENCH_BIN} --size 16MiB --pattern zipf --threads 8 --shared --write-ratio 0.5)
# bench/plot.py on checked-in logs (python3-matplotlib, scripts/install-deps.sh --test).
tierpage_bench_test(bench_plot bench_plot.sh ${CMAKE_SOURCE_DIR}/bench/plot.py ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/plot)
set_tests_properties(bench_plot PROPERTIES LABELS bench TIMEOUT 600)
# tierpage-bench's latency histogram on known data (quantiles, CDF file).
tierpage_add_check_test(test_latency_hist ${CMAKE_SOURCE_DIR}/tests/test_latency_hist.c
                        ${CMAKE_SOURCE_DIR}/bench/latency_hist.c)
target_include_directories(test_latency_hist PRIVATE ${CMAKE_SOURCE_DIR}/bench)
