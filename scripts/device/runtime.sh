# Sourced on the GPU machine by the device scripts: unpacks the Node and node_modules that
# prepare.sh staged, and points kdtorch and the PyTorch reference at that machine's torch.
# Unpacked into a folder named node_modules: Node resolves a package's own imports from its real
# path, so sharp finds @img/* only beside it in a node_modules folder.
mkdir -p /tmp/node/bin /tmp/node/node_modules
[ -x /tmp/node/bin/node ] || { xz -d -c .device/runtime/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node; }
[ -d /tmp/node/node_modules/sharp ] || xz -d -c .device/runtime/node_modules.tar.xz | tar -C /tmp/node/node_modules -xf -
ln -sfn /tmp/node/node_modules node_modules
export PATH=/tmp/node/bin:$PATH
export KDTORCH_PYTHON=${KDTORCH_PYTHON:-/opt/torch/.venv/bin/python}
