#include "killed_child.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t killed_child_start(void (*run)(void *arg, int ready_fd), void *arg)
{
    int ready[2];
    if (pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        run(arg, ready[1]);
        _exit(3);
    }
    close(ready[1]);
    char b;
    ssize_t n = pid > 0 ? read(ready[0], &b, 1) : -1;
    close(ready[0]);
    if (n == 1)
        return pid;
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return -1;
}

int killed_child_kill(pid_t pid, unsigned max_us)
{
    usleep((useconds_t)(rand() % (max_us ? max_us : 1)));
    if (kill(pid, SIGKILL) != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : status;
}
