# Writes a .cpp that defines `extern const char SYMBOL[]` with the text of INPUT.
file(READ ${INPUT} content)
set(delimiter "smlocal_embed")
# The text goes into a raw string literal, which this sequence would end early.
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains )${delimiter}\" and cannot be embedded as a raw string")
endif()
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT}; do not edit.\n"
  "namespace smlocal::api { extern const char ${SYMBOL}[] = R\"${delimiter}(${content})${delimiter}\"; }\n")
