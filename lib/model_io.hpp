// Reading and writing models: the HDF5 model file (format_version 1) and dispatch by file type.
#pragma once

#include "lib/model.hpp"

#include <string>

namespace circuits {

class H5Writer;

inline constexpr int kModelFormatVersion = 1;

// Reads an HDF5 model file; every shape is checked against the root attributes and every weight
// must be finite. Throws Error naming the file and the dataset or attribute at fault.
Model read_model_h5(const std::string& path);

// Writes `model` to `path` atomically (temporary file beside it, renamed into place).
void write_model_h5(const Model& model, const std::string& path);

// Writes `model` into an open writer: its attributes on `group` and its datasets under it ("/" gives
// the ordinary file layout). Lets a caller add more groups (e.g. /training) before committing.
void write_model_h5(const Model& model, H5Writer& writer, const std::string& group = "/");

// Loads a model by file type: `.safetensors` (with `config.json` beside it, or `config` given),
// anything else as an HDF5 model file.
Model load_model(const std::string& path);

}  // namespace circuits
