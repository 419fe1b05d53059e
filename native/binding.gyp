{
  # Node-API addon of DUS Studio. Node-API is ABI-stable, so one build serves Node and Electron
  # (no electron-rebuild). Headers come from the local Node (npm config nodedir), never a download.
  'targets': [
    {
      'target_name': 'dus_native',
      'sources': [
        'src/abort-flag.cc',
        'src/addon.cc',
        'src/arguments.cc',
        'src/compare-ranges.cc',
        'src/copy-ranges.cc',
        'src/dot-kernels.cc',
        'src/file-io.cc',
        'src/ggml-blocks.cc',
        'src/ggml-dequantise.cc',
        'src/promise-worker.cc',
        'src/read-buffer.cc',
        'src/stats-kernels.cc',
        'src/stats-kernels-x86.cc',
        'src/tensor-dot-products.cc',
        'src/tensor-stats.cc',
        'src/thread-pool.cc',
      ],
      'include_dirs': [
        "<!(node -p \"require('node-addon-api').include_dir\")",
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        # Settling a promise while a worker thread is being terminated cannot throw into JS;
        # without this node-addon-api turns that into std::terminate.
        'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
      ],
      # Baseline x86-64 / arm64 code only (no -march): the binary must run on any machine of the
      # architecture. src/stats-kernels-x86.cc adds AVX2 and AVX-512 statistics kernels through
      # per-function target attributes; they run only where the CPU check at run time allows.
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++20'],
      'cflags_cc': ['-std=c++17', '-O3', '-fexceptions'],
      'conditions': [
        ["OS=='mac'", {
          'xcode_settings': {
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'CLANG_CXX_LIBRARY': 'libc++',
            'MACOSX_DEPLOYMENT_TARGET': '11.0',
            'GCC_OPTIMIZATION_LEVEL': '3',
          },
        }],
        ["OS=='linux'", {
          'ldflags': ['-pthread'],
        }],
      ],
    },
  ],
}
