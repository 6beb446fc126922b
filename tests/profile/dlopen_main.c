/* dlopen_main LIB: loads LIB, calls its dso_allocate(300), exits (the
 * preloaded library writes GOMALLOC_PROFILE at exit). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    void (*fn)(int) = (void (*)(int))dlsym(h, "dso_allocate");
    if (!fn) return 1;
    fn(300);
    return 0; /* not dlclose'd: the profile is written at exit */
}
