/* The exec family: the program image is about to be replaced, so a stack
 * that served nothing is closed first (stack_life.c says why). glibc's own
 * exec functions call each other internally, out of a preload's reach:
 * each entry point is taken here. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;

typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

int execve(const char *path, char *const argv[], char *const envp[])
{
    shim_before_exec();
    return (int)syscall(SYS_execve, path, argv, envp);
}

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    shim_before_exec();
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    shim_before_exec();
    execvpe_fn next = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
    return next(file, argv, envp);
}

int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
    shim_before_exec();
    fexecve_fn next = (fexecve_fn)dlsym(RTLD_NEXT, "fexecve");
    return next(fd, argv, envp);
}

/* execl, execle, execlp: the arguments gathered into an array, as glibc
 * does, then passed on. */

/* How many arguments from `arg` on come before their NULL. */
static size_t count_args(const char *arg, va_list *ap)
{
    size_t n = 0;
    for (const char *a = arg; a; a = va_arg(*ap, const char *))
        n++;
    return n;
}

/* The n arguments into argv, NULL-terminated, and *ap past their NULL. */
static void gather_args(const char **argv, size_t n, const char *arg, va_list *ap)
{
    for (size_t i = 0; i < n; i++)
        argv[i] = i ? va_arg(*ap, const char *) : arg;
    if (arg)
        (void)va_arg(*ap, const char *);
    argv[n] = NULL;
}

/* Declares `argv` from `arg` on, and leaves the va_list `ap` open just
 * past their NULL. */
#define GATHER_ARGV(arg)                                                                                       \
    va_list ap;                                                                                                \
    va_start(ap, arg);                                                                                         \
    size_t argc = count_args(arg, &ap);                                                                        \
    va_end(ap);                                                                                                \
    const char *argv[argc + 1];                                                                                \
    va_start(ap, arg);                                                                                         \
    gather_args(argv, argc, arg, &ap)

int execl(const char *path, const char *arg, ...)
{
    GATHER_ARGV(arg);
    va_end(ap);
    return execve(path, (char *const *)argv, environ);
}

int execlp(const char *file, const char *arg, ...)
{
    GATHER_ARGV(arg);
    va_end(ap);
    return execvpe(file, (char *const *)argv, environ);
}

int execle(const char *path, const char *arg, ...)
{
    GATHER_ARGV(arg);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, (char *const *)argv, envp);
}
