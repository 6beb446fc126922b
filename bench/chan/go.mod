module gomalloc/bench/chan

go 1.19
