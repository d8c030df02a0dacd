//! The machine a report was measured on: CPU model, core count, kernel, ringwire's version and
//! the command line, for the report's `"machine"` object, so that a JSON file read later says
//! where its numbers come from.

use crate::bench::stats::json_str;

/// What is known about this machine and run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo`), or `"unknown"`.
    pub cpu_model: String,
    /// Logical CPUs of the machine (`/proc/cpuinfo`'s processors, else what std sees). The
    /// CPUs the benchmark could use are the setup's `available_cpus`.
    pub logical_cpus: usize,
    /// Operating system (`linux`, `macos`, ...).
    pub os: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`), or `"unknown"`.
    pub kernel: String,
    /// CPU architecture (`x86_64`, `aarch64`, ...).
    pub arch: String,
    /// The `ringwire` crate's version.
    pub ringwire_version: String,
    /// This process's command line.
    pub command: Vec<String>,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The model name and processor count in a `/proc/cpuinfo` text.
fn parse_cpuinfo(text: &str) -> (Option<String>, usize) {
    let mut model = None;
    let mut processors = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => processors += 1,
            // x86: "model name"; some ARM kernels: "Model" or "Hardware".
            "model name" | "Model" | "Hardware" | "cpu model"
                if model.is_none() && !value.is_empty() =>
            {
                model = Some(value.to_string());
            }
            _ => {}
        }
    }
    (model, processors)
}

impl Machine {
    /// Reads the description of this machine (Linux: `/proc`; elsewhere what std tells).
    pub fn detect() -> Machine {
        let (model, processors) = std::fs::read_to_string("/proc/cpuinfo")
            .map(|t| parse_cpuinfo(&t))
            .unwrap_or((None, 0));
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        Machine {
            cpu_model: model.unwrap_or_else(|| "unknown".into()),
            logical_cpus: if processors > 0 {
                processors
            } else {
                available
            },
            os: std::env::consts::OS.into(),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            arch: std::env::consts::ARCH.into(),
            ringwire_version: env!("CARGO_PKG_VERSION").into(),
            command: std::env::args().collect(),
        }
    }

    /// The description as a JSON object.
    pub fn json(&self) -> String {
        let command: Vec<String> = self.command.iter().map(|a| json_str(a)).collect();
        format!(
            "{{\"cpu_model\": {}, \"logical_cpus\": {}, \"os\": {}, \
             \"kernel\": {}, \"arch\": {}, \"ringwire_version\": {}, \"command\": [{}]}}",
            json_str(&self.cpu_model),
            self.logical_cpus,
            json_str(&self.os),
            json_str(&self.kernel),
            json_str(&self.arch),
            json_str(&self.ringwire_version),
            command.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_model_and_count() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) \
                    CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        let (model, n) = parse_cpuinfo(text);
        assert_eq!(model.as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(n, 2);
        assert_eq!(parse_cpuinfo(""), (None, 0));
        let m = Machine::detect();
        assert!(m.logical_cpus >= 1);
        assert!(m.json().contains("\"ringwire_version\": \"0."));
    }
}
