/* Subcommands of the gomalloc tool that live in their own files. */
#ifndef GM_TOOLS_RUN_H
#define GM_TOOLS_RUN_H
#include <stdbool.h>
#include <stdio.h>

/* gomalloc run [OPTIONS] [--] CMD [ARGS...]; see run.c. argv[1] is "run".
 * Returns an exit status only when CMD could not be started: 2 for bad
 * usage, 127 when libgomalloc.so cannot be found or CMD does not exist. */
int cmd_run(int argc, char **argv);

/* The usage of `gomalloc run`: its options and where the library is looked
 * for (also printed by `gomalloc help`). */
void run_usage(FILE *f);

#endif
