module lostromos.dev/bench/loadgen

go 1.22
