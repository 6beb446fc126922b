/* Chapters of `gomalloc demo` that live in files of their own. */
#ifndef GM_TOOLS_DEMO_H
#define GM_TOOLS_DEMO_H

void demo_heading(const char *title);
void demo_containers(void); /* demo_containers.c: make, append, maps */
void demo_chan(void);       /* demo_chan.c: makechan's three cases */

#endif
