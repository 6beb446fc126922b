/*
 * runone — run one benchmark process and measure it.
 *
 * Forks, optionally sets LD_PRELOAD in the child only, execs the command,
 * waits for it with wait4 and reports
 *     <elapsed seconds> <peak RSS KiB> <exit status> <user seconds> <sys seconds>
 * on one line: elapsed is wall time from just before fork to wait4's return,
 * CLOCK_MONOTONIC, printed with 0.1 ms resolution; peak RSS is the child's
 * ru_maxrss. The child's stdout and stderr are inherited, untouched.
 *
 * For a command that starts other processes (a shell script, gcc, git),
 * wait4 folds in the usage of every descendant that was waited for: the
 * times are the tree's sums, ru_maxrss is the largest peak of any single
 * process in the tree (a maximum, not a sum).
 *
 * usage: runone [-p PRELOAD_LIB] [-o RESULT_FILE] [-t TIMEOUT_S] [--] COMMAND [ARGS...]
 * The report goes to RESULT_FILE (default: stderr). The child runs in a
 * process group of its own: with -t, a child still running after TIMEOUT_S
 * seconds is killed (SIGKILL) with everything it started, and SIGINT,
 * SIGTERM and SIGHUP sent to runone are passed on to that group. runone
 * exits with the child's exit status, or 128 + signal number if it was
 * killed.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#if !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* wait4 */
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: runone [-p PRELOAD_LIB] [-o RESULT_FILE] [-t TIMEOUT_S] [--] COMMAND [ARGS...]\n");
    exit(127);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t g_timed_out;
static pid_t g_child;

static void on_alarm(int sig)
{
    (void)sig;
    g_timed_out = 1;
    if (g_child > 0)
        kill(-g_child, SIGKILL);
}

static void on_signal(int sig)
{
    if (g_child > 0)
        kill(-g_child, sig);
}

static double tv_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const char *preload = NULL, *result = NULL;
    unsigned timeout = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            preload = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            result = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            char *end;
            unsigned long t = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || t > 86400)
                usage();
            timeout = (unsigned)t;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (argv[i][0] == '-') {
            usage();
        } else {
            break;
        }
    }
    if (i >= argc)
        usage();

    FILE *out = stderr;
    if (result != NULL) {
        out = fopen(result, "w");
        if (out == NULL) {
            fprintf(stderr, "runone: %s: %s\n", result, strerror(errno));
            return 127;
        }
    }
    fflush(NULL);

    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("runone: fork");
        return 127;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (preload != NULL && preload[0] != '\0') {
            if (setenv("LD_PRELOAD", preload, 1) != 0)
                _exit(127);
        }
        execvp(argv[i], &argv[i]);
        fprintf(stderr, "runone: exec %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }

    setpgid(pid, pid); /* also here, so that it is done before any kill */
    g_child = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (timeout > 0) {
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        alarm(timeout);
    }

    int status = 0;
    struct rusage ru;
    pid_t w;
    do {
        w = wait4(pid, &status, 0, &ru);
    } while (w < 0 && errno == EINTR);
    double t1 = now();
    alarm(0);
    if (g_timed_out)
        fprintf(stderr, "runone: %s timed out after %u s and was killed\n", argv[i], timeout);
    if (w < 0) {
        perror("runone: wait4");
        return 127;
    }

    int code = WIFEXITED(status) ? WEXITSTATUS(status)
               : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 127;
    fprintf(out, "%.4f %ld %d %.3f %.3f\n", t1 - t0, ru.ru_maxrss, code,
            tv_seconds(ru.ru_utime), tv_seconds(ru.ru_stime));
    if (out != stderr)
        fclose(out);
    return code;
}
