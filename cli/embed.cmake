# Writes INPUT as a C string named tp_default_stack_yaml into OUTPUT.
file(READ ${INPUT} text HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${text}")
file(WRITE ${OUTPUT} "/* generated from conf/examples/local.yaml */\nconst char tp_default_stack_yaml[] = {${bytes} 0x00};\n")
