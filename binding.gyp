# The build node-gyp-build falls back to at `npm install` when no prebuilt binary fits.
# Sources and flags come from lib/native/libtorch.mjs, exactly as for CMakeLists.txt; kdtorch_cuda.so
# (CUDA graphs, see CMakeLists.txt) is built only when that script found a CUDA runtime.
{
  "targets": [
    {
      "target_name": "kdtorch",
      "sources": ["<!@(node lib/native/libtorch.mjs --gyp sources)"],
      "include_dirs": ["<!@(node lib/native/libtorch.mjs --gyp includeDirs)"],
      "defines": ["<!@(node lib/native/libtorch.mjs --gyp defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti", "-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["<!@(node lib/native/libtorch.mjs --gyp cflags)"],
      "ldflags": ["<!@(node lib/native/libtorch.mjs --gyp ldflags)"],
      "libraries": ["<!@(node lib/native/libtorch.mjs --gyp libraries)"]
    },
    {
      "target_name": "kdtorch_cuda",
      "type": "none",
      "conditions": [
        [
          "'<!(node lib/native/libtorch.mjs --gyp cudaSources)'!=''",
          {
            "type": "shared_library",
            "product_dir": "<(PRODUCT_DIR)",
            "sources": ["<!@(node lib/native/libtorch.mjs --gyp cudaSources)"],
            "include_dirs": ["<!@(node lib/native/libtorch.mjs --gyp cudaIncludeDirs)"],
            "defines": ["<!@(node lib/native/libtorch.mjs --gyp defines)"],
            "cflags!": ["-fno-exceptions"],
            "cflags_cc!": ["-fno-rtti", "-fno-exceptions", "-std=gnu++17"],
            "cflags_cc": ["<!@(node lib/native/libtorch.mjs --gyp cflags)"],
            "ldflags": ["<!@(node lib/native/libtorch.mjs --gyp ldflags)"],
            "libraries": ["<!@(node lib/native/libtorch.mjs --gyp cudaLibraries)"]
          }
        ]
      ]
    }
  ]
}
