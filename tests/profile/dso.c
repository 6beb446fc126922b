/* A library the profile test loads with dlopen: its allocation site must
 * be named in the profile and its mapping carry its build ID. */
#include <stdlib.h>

void *volatile dso_kept[300];

__attribute__((visibility("default"), noinline)) void dso_allocate(int n) {
    for (int i = 0; i < n && i < 300; i++) dso_kept[i] = malloc(3000);
}
