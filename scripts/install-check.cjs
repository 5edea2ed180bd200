// Run by node-gyp-build at `npm install` (package.json "prebuild.test") to decide whether the
// prebuilt binary fits this machine. Exit 0 keeps it; exit 1 makes node-gyp-build compile from
// source against the libtorch found here. With no libtorch at all a build cannot help either, so
// the prebuilt is kept and the loader explains, at first use, how to install libtorch.
const path = require('node:path');
const { pathToFileURL } = require('node:url');

import(pathToFileURL(path.join(__dirname, '..', 'dist', 'lib', 'native', 'load-addon.js')).href)
  .then(({ loadAddon }) => {
    loadAddon();
    process.exit(0);
  })
  .catch((error) => {
    const keep = error.code === 'E_LIBTORCH_NOT_FOUND';
    console.error(
      `kdtorch: ${keep ? 'keeping the prebuilt binary for now' : 'building from source'}: ${error.message}`,
    );
    process.exit(keep ? 0 : 1);
  });
