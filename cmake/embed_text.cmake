# Writes a .cpp that defines `extern const char SYMBOL[]` with the text of INPUT.
file(READ ${INPUT} content)
set(delimiter "smlocal_embed")
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT}; do not edit.\n"
  "namespace smlocal::api { extern const char ${SYMBOL}[] = R\"${delimiter}(${content})${delimiter}\"; }\n")
