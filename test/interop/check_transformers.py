"""Loads DUS Studio exports in transformers and compares their logits with the model the plan implies,
built independently here from the source weights and the export's mergekit_config.yml."""
import copy, json, os, sys, yaml, torch
from transformers import AutoModelForCausalLM, AutoTokenizer

dev = 'cuda' if torch.cuda.is_available() else 'cpu'
# usage: python3 check_transformers.py SOURCE_DIR EXPORT_DIR... (exports of SOURCE_DIR made by dus-studio)
src = sys.argv[1]
export_dirs = sys.argv[2:]
base = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(src)
ids = tok('Once upon a time', return_tensors='pt').input_ids.to(dev)
report = {'device': dev, 'torch': torch.__version__, 'transformers': __import__('transformers').__version__, 'exports': {}}

def rules_of(params):
    scale = (params or {}).get('scale')
    if scale is None: return None
    return scale if isinstance(scale, list) else [{'value': scale}]

def implied_model(export_dir, dtype):
    cfg = yaml.safe_load(open(os.path.join(export_dir, 'mergekit_config.yml')))
    layers = []
    for s in cfg['slices']:
        source = s['sources'][0]
        start, end = source['layer_range']
        rules = rules_of(source.get('parameters'))
        for i in range(start, end):
            layer = copy.deepcopy(base.model.layers[i])
            if rules:
                for name, p in layer.named_parameters():
                    full = f'model.layers.{len(layers)}.{name}'
                    for r in rules:
                        if 'filter' not in r or r['filter'] in full:
                            p.data.mul_(r['value']); break
            layers.append(layer)
    m = copy.deepcopy(base)
    m.model.layers = torch.nn.ModuleList(layers)
    m.config.num_hidden_layers = len(layers)
    for idx, l in enumerate(m.model.layers): l.self_attn.layer_idx = idx
    # Cast the weights only: transformers keeps rotary buffers in float32 when it loads a bf16 model.
    for p in m.parameters(): p.data = p.data.to(dtype)
    return m.to(dev).eval()

with torch.no_grad():
    base_logits = base.to(dev)(ids, use_cache=False).logits.float()
    base_text = tok.decode(base.generate(ids, max_new_tokens=40, do_sample=False)[0])
    report['base_text'] = base_text
    for d in export_dirs:
        name = os.path.basename(os.path.normpath(d))
        cfg = json.load(open(os.path.join(d, 'config.json')))
        dtype = {'bfloat16': torch.bfloat16, 'float16': torch.float16}.get(cfg.get('torch_dtype'), torch.float32)
        model, info = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, output_loading_info=True)
        model = model.to(dev).eval()
        AutoTokenizer.from_pretrained(d)
        got = model(ids, use_cache=False).logits.float()
        want = implied_model(d, dtype)(ids, use_cache=False).logits.float()
        entry = {
            'layers': model.config.num_hidden_layers,
            'dtype': str(dtype),
            'missing_keys': list(info['missing_keys']), 'unexpected_keys': list(info['unexpected_keys']),
            'max_abs_diff_vs_plan': (got - want).abs().max().item(),
            'max_abs_diff_vs_base': (got - base_logits).abs().max().item(),
            'text': tok.decode(model.generate(ids, max_new_tokens=40, do_sample=False)[0]),
        }
        report['exports'][name] = entry
        print(name, json.dumps(entry), flush=True)
print(json.dumps(report, indent=1))
json.dump(report, open(os.path.join(os.environ.get('OUT', '.'), 'transformers-check.json'), 'w'), indent=1)
