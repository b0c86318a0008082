/* For the test programs: whether touching an address faults (SIGSEGV:
 * nothing mapped there, or mapped without that access), caught and
 * answered instead of ending the program. One thread at a time. */
#ifndef TIERPAGE_TOUCH_FAULTS_H
#define TIERPAGE_TOUCH_FAULTS_H

#include <setjmp.h>
#include <signal.h>
#include <string.h>

static sigjmp_buf touch_faults_jump;

static inline void touch_faults_on_segv(int sig)
{
    (void)sig;
    siglongjmp(touch_faults_jump, 1);
}

/* Whether reading (write 0) or writing back (write 1) the byte at p
 * faults with SIGSEGV. */
static inline int touch_faults(volatile unsigned char *p, int write)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = touch_faults_on_segv;
    sigaction(SIGSEGV, &sa, &old);
    int faulted = 1;
    if (sigsetjmp(touch_faults_jump, 1) == 0) {
        if (write)
            *p = *p;
        else
            (void)*p;
        faulted = 0;
    }
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

#endif
