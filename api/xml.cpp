#include "api/xml.hpp"

namespace smlocal::api {
namespace {

struct string_writer : pugi::xml_writer {
    std::string text;
    void write(const void* data, std::size_t size) override { text.append(static_cast<const char*>(data), size); }
};

}  // namespace

std::string xml_text(const pugi::xml_document& doc) {
    string_writer writer;
    writer.text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    doc.save(writer, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
    return writer.text;
}

pugi::xml_node add_xml_root(pugi::xml_document& doc, const char* name, const char* xml_namespace) {
    auto root = doc.append_child(name);
    root.append_attribute("xmlns") = xml_namespace;
    return root;
}

void add_xml_text(pugi::xml_node parent, const char* name, std::string_view value) {
    parent.append_child(name).text().set(std::string(value).c_str());
}

}  // namespace smlocal::api
