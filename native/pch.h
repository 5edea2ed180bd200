// Precompiled by CMakeLists.txt: torch/torch.h dominates every translation unit's compile time.
#pragma once
#include <torch/torch.h>
