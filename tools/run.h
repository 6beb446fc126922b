/* Subcommands of the gomalloc tool that live in their own files. */
#ifndef GM_TOOLS_RUN_H
#define GM_TOOLS_RUN_H
#include <stdbool.h>

/* gomalloc run [--stats] [--stats-file F] [--] CMD [ARGS...]; see run.c. */
int cmd_run(int argc, char **argv);

#endif
