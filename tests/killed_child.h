/* A child process killed at a random moment, for the tests of what a
 * process killed at any instruction leaves behind (files on tmpfs). */
#ifndef TIERPAGE_TEST_KILLED_CHILD_H
#define TIERPAGE_TEST_KILLED_CHILD_H

#include <sys/types.h>

/* Forks a child that calls run(arg, ready_fd): run writes one byte on
 * ready_fd once under way, then works until it is killed (it may _exit
 * non-zero on failure). Returns the child's pid once the byte came, -1 when
 * the child could not start or ended first. */
pid_t killed_child_start(void (*run)(void *arg, int ready_fd), void *arg);

/* Waits a random time under max_us, SIGKILLs the child and reaps it.
 * Returns 0 when it died of the signal, else its wait status (it ended
 * by itself) or -1. */
int killed_child_kill(pid_t pid, unsigned max_us);

#endif
