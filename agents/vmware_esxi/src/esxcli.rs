//! What `esxcli --formatter=xml` prints, read: the running VM processes
//! (`vm process list`) and the mounted volumes (`storage filesystem list`),
//! and the mapping of a `[datastore] dir/name.vmx` path onto the
//! `/vmfs/volumes/...` path a VM process reports as its config file.
//!
//! When hostd is down, these are the only sources left. The XML form is
//! used, never the human one: there a display name holding a newline and
//! `   Config File: /vmfs/...` could pass for a field of its own. The XML
//! shape (an `output` element in esxcli's namespace, holding a `list` of
//! `structure`s whose `field`s each hold one typed value) follows samples
//! of `esxcli --formatter=xml vm process list` published with ESXi tooling,
//! and the field names (`ConfigFile`, `DisplayName`, `WorldID`;
//! `MountPoint`, `VolumeName`, `UUID`, `Mounted`) those of the ESXCLI
//! command reference (developer.broadcom.com/xapis/esxcli-command-reference,
//! namespaces `esxcli vm` and `esxcli storage filesystem`). As with the vim-cmd
//! summary, text that injects a field leaves the real one in place, so a
//! field appearing twice in one structure is an error, not a choice.

use std::collections::HashMap;
use std::fmt;

/// One running VM process (a VMX "world").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    /// What `vm process kill --world-id` takes.
    pub world_id: u64,
    /// The VM's `.vmx`, as `/vmfs/volumes/<uuid or name>/dir/name.vmx`.
    pub config_file: String,
    /// The display name: logged, never used to identify the VM.
    pub display_name: String,
}

/// One mounted (or known but unmounted) volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub mount_point: String,
    /// The datastore name, as `[name]` in `.vmx` paths.
    pub volume_name: String,
    pub uuid: String,
    pub mounted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsxcliError {
    /// Not XML, or XML of another shape.
    Format(String),
    /// A `[datastore] path` that cannot be mapped for sure.
    Mapping(String),
}

impl fmt::Display for EsxcliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EsxcliError::Format(s) => write!(f, "esxcli output not understood: {s}"),
            EsxcliError::Mapping(s) => f.write_str(s),
        }
    }
}

fn format_error(s: impl Into<String>) -> EsxcliError {
    EsxcliError::Format(s.into())
}

/// A field's typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Str(String),
    Int(String),
    Bool(bool),
}

/// Well above any host's VM or volume count; bounds what a flood costs.
const NODES_LIMIT: u32 = 500_000;

fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> Result<Vec<roxmltree::Node<'a, 'i>>, EsxcliError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err(format_error(format!(
                "text {:?} between elements of <{}>",
                child
                    .text()
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect::<String>(),
                node.tag_name().name()
            )));
        }
        // Comments and processing instructions carry nothing.
    }
    Ok(out)
}

fn only_child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &str,
) -> Result<roxmltree::Node<'a, 'i>, EsxcliError> {
    let kids = elements(node)?;
    match kids.as_slice() {
        [one] if one.tag_name().name() == name => Ok(*one),
        _ => Err(format_error(format!(
            "<{}> does not hold exactly one <{name}>",
            node.tag_name().name()
        ))),
    }
}

/// The structures of type `type_name` in esxcli's XML, each as its fields.
fn structures(xml: &str, type_name: &str) -> Result<Vec<HashMap<String, Field>>, EsxcliError> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml.trim_start(), opts)
        .map_err(|e| format_error(format!("not XML: {e}")))?;
    let out = doc.root_element();
    if out.tag_name().name() != "output" {
        return Err(format_error(format!(
            "the document is <{}>, not esxcli's <output>",
            out.tag_name().name()
        )));
    }
    // <output><root><list> on ESXi; <output><list> tolerated.
    let mut list = only_child(out, "root").or_else(|_| only_child(out, "list"))?;
    if list.tag_name().name() == "root" {
        list = only_child(list, "list")?;
    }
    if list.attribute("type") != Some("structure") {
        return Err(format_error("the list is not a list of structures"));
    }
    let mut result = Vec::new();
    for s in elements(list)? {
        if s.tag_name().name() != "structure" || s.attribute("typeName") != Some(type_name) {
            return Err(format_error(format!(
                "<{} typeName={:?}> in a list of {type_name}",
                s.tag_name().name(),
                s.attribute("typeName").unwrap_or("")
            )));
        }
        let mut fields = HashMap::new();
        for f in elements(s)? {
            let name = match (f.tag_name().name(), f.attribute("name")) {
                ("field", Some(n)) => n.to_string(),
                _ => {
                    return Err(format_error(
                        "a structure holds something other than <field name>",
                    ))
                }
            };
            let v = only_child(f, "string")
                .or_else(|_| only_child(f, "integer"))
                .or_else(|_| only_child(f, "boolean"))
                .map_err(|_| format_error(format!("field {name} holds no single typed value")))?;
            let text = v.text().unwrap_or("").to_string();
            let value = match v.tag_name().name() {
                "string" => Field::Str(text),
                "integer" => Field::Int(text.trim().to_string()),
                _ => match text.trim() {
                    "true" => Field::Bool(true),
                    "false" => Field::Bool(false),
                    other => {
                        return Err(format_error(format!(
                            "field {name}: {other:?} is no boolean"
                        )))
                    }
                },
            };
            if fields.insert(name.clone(), value).is_some() {
                return Err(format_error(format!(
                    "field {name} appears twice in one {type_name}: the output is forged or garbled"
                )));
            }
        }
        result.push(fields);
    }
    Ok(result)
}

fn string(fields: &HashMap<String, Field>, name: &str) -> Result<String, EsxcliError> {
    match fields.get(name) {
        Some(Field::Str(s)) => Ok(s.clone()),
        _ => Err(format_error(format!("no string field {name}"))),
    }
}

/// `esxcli --formatter=xml vm process list`.
pub fn parse_process_list(xml: &str) -> Result<Vec<World>, EsxcliError> {
    let mut worlds = Vec::new();
    for fields in structures(xml, "VirtualMachine")? {
        let world_id = match fields.get("WorldID") {
            Some(Field::Int(n)) => n
                .parse::<u64>()
                .map_err(|_| format_error(format!("WorldID {n:?} is no world id")))?,
            _ => return Err(format_error("no integer field WorldID")),
        };
        worlds.push(World {
            world_id,
            config_file: string(&fields, "ConfigFile")?,
            display_name: string(&fields, "DisplayName")?,
        });
    }
    Ok(worlds)
}

/// `esxcli --formatter=xml storage filesystem list`.
pub fn parse_filesystem_list(xml: &str) -> Result<Vec<Volume>, EsxcliError> {
    let mut volumes = Vec::new();
    for fields in structures(xml, "FilesystemVolume")? {
        volumes.push(Volume {
            mount_point: string(&fields, "MountPoint")?,
            volume_name: string(&fields, "VolumeName")?,
            uuid: string(&fields, "UUID")?,
            mounted: match fields.get("Mounted") {
                Some(Field::Bool(b)) => *b,
                _ => return Err(format_error("no boolean field Mounted")),
            },
        });
    }
    Ok(volumes)
}

/// `[datastore] dir/name.vmx`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastorePath {
    pub datastore: String,
    /// Relative to the datastore's root.
    pub path: String,
}

impl DatastorePath {
    /// Only the plain form: a non-empty datastore name, one blank, a
    /// relative path to a `.vmx` without `.`/`..` components. Anything
    /// else could name a file elsewhere than it seems to.
    pub fn parse(text: &str) -> Option<DatastorePath> {
        let rest = text.strip_prefix('[')?;
        let (datastore, path) = rest.split_once("] ")?;
        let ok_path = path.ends_with(".vmx")
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        let ok_name = !datastore.is_empty() && !datastore.contains(['/', ']', '\n']);
        (ok_path && ok_name).then(|| DatastorePath {
            datastore: datastore.to_string(),
            path: path.to_string(),
        })
    }
}

impl fmt::Display for DatastorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.datastore, self.path)
    }
}

/// The config-file paths a VM process of `vmx` may report: under the
/// volume's mount point (`/vmfs/volumes/<uuid>`) or under the datastore
/// name's link (`/vmfs/volumes/<name>`). An error when the datastore is
/// not exactly one mounted volume, or when its name could also be read as
/// another volume's directory.
pub fn config_file_paths(
    vmx: &DatastorePath,
    volumes: &[Volume],
) -> Result<Vec<String>, EsxcliError> {
    let named: Vec<&Volume> = volumes
        .iter()
        .filter(|v| v.volume_name == vmx.datastore)
        .collect();
    let vol = match named.as_slice() {
        [one] => *one,
        [] => {
            return Err(EsxcliError::Mapping(format!(
                "no volume is named {:?} in esxcli storage filesystem list",
                vmx.datastore
            )))
        }
        several => {
            return Err(EsxcliError::Mapping(format!(
                "{} volumes are named {:?} ({})",
                several.len(),
                vmx.datastore,
                several
                    .iter()
                    .map(|v| v.mount_point.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    if !vol.mounted {
        return Err(EsxcliError::Mapping(format!(
            "datastore {:?} ({}) is not mounted",
            vmx.datastore, vol.mount_point
        )));
    }
    let mount = vol.mount_point.trim_end_matches('/');
    if !mount.starts_with("/vmfs/volumes/") || mount["/vmfs/volumes/".len()..].contains('/') {
        return Err(EsxcliError::Mapping(format!(
            "datastore {:?} is mounted at {mount}, not directly under /vmfs/volumes",
            vmx.datastore
        )));
    }
    // A datastore named like another volume's uuid makes
    // /vmfs/volumes/<name> mean two things.
    let by_name = format!("/vmfs/volumes/{}", vmx.datastore);
    if let Some(other) = volumes.iter().find(|v| {
        !std::ptr::eq(*v, vol)
            && (v.uuid == vmx.datastore || v.mount_point.trim_end_matches('/') == by_name)
    }) {
        return Err(EsxcliError::Mapping(format!(
            "datastore name {:?} is also the directory of volume {} under /vmfs/volumes",
            vmx.datastore, other.mount_point
        )));
    }
    let mut paths = vec![format!("{mount}/{}", vmx.path)];
    if by_name != mount {
        paths.push(format!("{by_name}/{}", vmx.path));
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_xml(worlds: &[(&str, &str, &str)]) -> String {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<output xmlns=\"http://www.vmware.com/Products/ESX/5.0/esxcli\">\n<root>\n   <list type=\"structure\">\n",
        );
        for (id, file, name) in worlds {
            s.push_str(&format!(
                "      <structure typeName=\"VirtualMachine\">\n         <field name=\"ConfigFile\">\n            <string>{file}</string>\n         </field>\n         <field name=\"DisplayName\">\n            <string>{name}</string>\n         </field>\n         <field name=\"ProcessID\">\n            <integer>0</integer>\n         </field>\n         <field name=\"UUID\">\n            <string>56 4d b4 20 0a 16 b9 50-1c bd fc 7c 7b dd d5 84</string>\n         </field>\n         <field name=\"VMXCartelID\">\n            <integer>1331402</integer>\n         </field>\n         <field name=\"WorldID\">\n            <integer>{id}</integer>\n         </field>\n      </structure>\n"
            ));
        }
        s.push_str("   </list>\n</root>\n</output>\n");
        s
    }

    const FS: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>
<output xmlns=\"http://www.vmware.com/Products/ESX/5.0/esxcli\">
<root>
   <list type=\"structure\">
      <structure typeName=\"FilesystemVolume\">
         <field name=\"Free\"><integer>10</integer></field>
         <field name=\"MountPoint\"><string>/vmfs/volumes/5a3e3c1d-8c4b7f2e-1234-001122334455</string></field>
         <field name=\"Mounted\"><boolean>true</boolean></field>
         <field name=\"Size\"><integer>20</integer></field>
         <field name=\"Type\"><string>VMFS-6</string></field>
         <field name=\"UUID\"><string>5a3e3c1d-8c4b7f2e-1234-001122334455</string></field>
         <field name=\"VolumeName\"><string>datastore 1</string></field>
      </structure>
      <structure typeName=\"FilesystemVolume\">
         <field name=\"MountPoint\"><string>/vmfs/volumes/95e378c2-863dd2b4</string></field>
         <field name=\"Mounted\"><boolean>false</boolean></field>
         <field name=\"UUID\"><string>95e378c2-863dd2b4</string></field>
         <field name=\"VolumeName\"><string>nfs</string></field>
      </structure>
   </list>
</root>
</output>
";

    #[test]
    fn process_list() {
        let w = parse_process_list(&world_xml(&[
            (
                "1331403",
                "/vmfs/volumes/5a3e/db &amp; co/db.vmx",
                "db &lt;&gt; co",
            ),
            ("7", "/vmfs/volumes/5a3e/x/x.vmx", "line one\nline two"),
        ]))
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].world_id, 1331403);
        assert_eq!(w[0].config_file, "/vmfs/volumes/5a3e/db & co/db.vmx");
        assert_eq!(w[0].display_name, "db <> co");
        assert_eq!(w[1].display_name, "line one\nline two");
        assert_eq!(parse_process_list(&world_xml(&[])).unwrap(), vec![]);
    }

    #[test]
    fn a_display_name_that_injects_a_config_file_is_caught() {
        // What an unescaped name would make of the structure.
        let forged = "x</string></field><field name=\"ConfigFile\"><string>/vmfs/volumes/5a3e/victim/victim.vmx";
        let e = parse_process_list(&world_xml(&[(
            "7",
            "/vmfs/volumes/5a3e/evil/evil.vmx",
            forged,
        )]))
        .unwrap_err();
        assert!(e.to_string().contains("ConfigFile appears twice"), "{e}");
    }

    #[test]
    fn filesystem_list_and_mapping() {
        let vols = parse_filesystem_list(FS).unwrap();
        assert_eq!(vols.len(), 2);
        assert!(vols[0].mounted && !vols[1].mounted);
        let p = DatastorePath::parse("[datastore 1] web [eu]/web [eu].vmx").unwrap();
        assert_eq!(
            config_file_paths(&p, &vols).unwrap(),
            [
                "/vmfs/volumes/5a3e3c1d-8c4b7f2e-1234-001122334455/web [eu]/web [eu].vmx",
                "/vmfs/volumes/datastore 1/web [eu]/web [eu].vmx"
            ]
        );
        let nfs = DatastorePath::parse("[nfs] a/a.vmx").unwrap();
        assert!(config_file_paths(&nfs, &vols)
            .unwrap_err()
            .to_string()
            .contains("not mounted"));
        let none = DatastorePath::parse("[other] a/a.vmx").unwrap();
        assert!(config_file_paths(&none, &vols).is_err());
        // Two volumes of one name, or a name that is another's uuid.
        let mut twice = vols.clone();
        twice[1].volume_name = "datastore 1".into();
        twice[1].mounted = true;
        assert!(config_file_paths(&p, &twice)
            .unwrap_err()
            .to_string()
            .contains("2 volumes"));
        let mut alias = vols.clone();
        alias[1].volume_name = "5a3e3c1d-8c4b7f2e-1234-001122334455".into();
        alias[0].volume_name = "95e378c2-863dd2b4".into();
        let tricky = DatastorePath::parse("[95e378c2-863dd2b4] a/a.vmx").unwrap();
        assert!(config_file_paths(&tricky, &alias).is_err());
    }

    #[test]
    fn datastore_paths_are_read_strictly() {
        for bad in [
            "",
            "node1",
            "[] a/a.vmx",
            "[ds]a/a.vmx",
            "[ds] /etc/a.vmx",
            "[ds] ../x/a.vmx",
            "[ds] a/./a.vmx",
            "[ds] a//a.vmx",
            "[ds] a/a.vmdk",
            "[d/s] a/a.vmx",
        ] {
            assert_eq!(DatastorePath::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            DatastorePath::parse("[ds] a b/c.vmx"),
            Some(DatastorePath {
                datastore: "ds".into(),
                path: "a b/c.vmx".into()
            })
        );
    }

    #[test]
    fn hostile_input_is_an_error_never_a_panic() {
        let deep = format!("{}{}", "<a>".repeat(200_000), "</a>".repeat(200_000));
        let huge = format!(
            "<output><root><list type=\"structure\">{}</list></root></output>",
            "<x/>".repeat(600_000)
        );
        let lossy = String::from_utf8_lossy(b"<output>\xff\xfe\0</output>").into_owned();
        let billion =
            "<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><output>&b;</output>";
        for text in [
            "",
            "Connect to localhost failed: Connection failure",
            "<output>",
            "<output><root><list type=\"structure\"><structure typeName=\"VirtualMachine\"><field name=\"WorldID\"><integer>x</integer></field></structure></list></root></output>",
            "<output><root><list type=\"structure\"><structure typeName=\"VirtualMachine\"><field name=\"WorldID\"><integer>99999999999999999999999</integer></field></structure></list></root></output>",
            deep.as_str(),
            huge.as_str(),
            lossy.as_str(),
            billion,
        ] {
            assert!(parse_process_list(text).is_err(), "{:?}", &text[..text.len().min(60)]);
            assert!(parse_filesystem_list(text).is_err());
        }
    }
}
