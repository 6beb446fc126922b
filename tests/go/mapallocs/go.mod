module gomalloc/tests/mapallocs

go 1.23
