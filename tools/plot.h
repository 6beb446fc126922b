/* gomalloc plot FILE -o OUT.svg: see plot.c. */
#ifndef GM_TOOLS_PLOT_H
#define GM_TOOLS_PLOT_H
int cmd_plot(int argc, char **argv);
#endif
