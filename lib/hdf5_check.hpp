// A corrupt HDF5 file can crash or hang the HDF5 library itself (Debian 12's 1.10.8 does on some:
// tests/fuzz/hdf5_library), where no check of ours runs first. Before H5Reader opens a file, a
// forked child process reads every object in it; only a file the child read to the end is opened
// in this process, and any other is refused with an Error naming it.
#pragma once

#include <string>

namespace circuits {

// Reads every group, dataset and attribute of the HDF5 file at `path` in a child process: each
// dataset (up to 4 GiB, and not one H5Reader refuses for claiming far more than the file stores
// for it; in blocks of at most 16 MiB) and attribute in full, in its own type. Throws
// Error naming the file when the child was killed by a signal, exited otherwise than by finishing,
// ran past the time limit, or HDF5 reported an error reading an object (the error names it).
// Returns when the child read everything, or could not open the file at all (the caller's own
// open then reports that). A file that passed is remembered by device, inode, size and
// modification time, and not read again.
//
// Environment: CIRCUITS_HDF5_CHECK=0 skips the check; CIRCUITS_HDF5_CHECK_MS sets the time limit
// (default: 20 s plus 1 s per 16 MiB of file).
void check_hdf5_file(const std::string& path);

}  // namespace circuits
