# Thin wrapper over CMake. `make demo` and `make test` are the two README commands.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all demo test sanitize tsan bench clean deps
all: $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD)/Makefile:
	@./tools/ensure-deps.sh
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

# The showcase: a Python program nobody here wrote, on gomalloc (PYTHONMALLOC=
# malloc sends every Python object through malloc), then the allocator tour.
DEMO_PY = import json; d = {str(i): {"id": i, "tags": ["t"] * (i % 5)} for i in range(200000)}; \
	s = json.dumps(d); print("python: json of", len(json.loads(s)), "objects,", len(s), "bytes")
demo: all
	PYTHONMALLOC=malloc ./$(BUILD)/gomalloc run --stats -- python3 -c '$(DEMO_PY)'
	./$(BUILD)/gomalloc demo

test: all
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The whole suite again under ASan+UBSan (CI runs this too).
sanitize:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGOMALLOC_SANITIZE=ON -DGOMALLOC_DEBUG=3
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS) -LE 'preload|real'

tsan:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGOMALLOC_TSAN=ON -DGOMALLOC_DEBUG=2
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && ctest --output-on-failure -j$(JOBS) -L concurrency

bench: all
	./bench/run.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan
