module gomalloc/tests/growslice

go 1.22
