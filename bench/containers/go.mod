module gomalloc/bench/containers

go 1.19
