/* Placeholder: being written (issue 12). */
#include <stdio.h>
#include "plot.h"
int cmd_plot(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "gomalloc plot: not yet\n");
    return 2;
}
