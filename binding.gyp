{
  "targets": [
    {
      "target_name": "custodia_fs",
      "sources": ["native/custodia_fs.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
