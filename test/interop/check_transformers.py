"""Loads DUS Studio exports in transformers and compares their logits with the model each plan
implies, rebuilt here independently from the source weights and the export's mergekit_config.yml.

usage: python3 check_transformers.py --sources SRC_DIR... --exports EXPORT_DIR... [--out report.json]
Sources are matched to the plan's model paths by folder name. Needs torch, transformers, pyyaml.
"""
import argparse, copy, json, os, yaml, torch
from transformers import AutoModelForCausalLM, AutoTokenizer

parser = argparse.ArgumentParser()
parser.add_argument('--sources', nargs='+', required=True)
parser.add_argument('--exports', nargs='+', required=True)
parser.add_argument('--out', default=None)
args = parser.parse_args()
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
sources = {os.path.basename(os.path.normpath(d)): d for d in args.sources}
loaded = {}

def base_model(name, dtype):
    key = (name, dtype)
    if key not in loaded:
        loaded[key] = AutoModelForCausalLM.from_pretrained(sources[name], dtype=dtype).to(dev).eval()
    return loaded[key]

def scale_rules(params):
    scale = (params or {}).get('scale')
    if scale is None: return None
    return scale if isinstance(scale, list) else [{'value': scale}]

def implied_model(export_dir, dtype):
    """mergekit passthrough: layers in slice order; embeddings from the first slice's model, final
    norm and head from the last's; `scale` multiplies the weights whose name contains the filter."""
    plan = yaml.safe_load(open(os.path.join(export_dir, 'mergekit_config.yml')))
    names = [os.path.basename(os.path.normpath(s['sources'][0]['model'])) for s in plan['slices']]
    first, last = base_model(names[0], dtype), base_model(names[-1], dtype)
    layers = []
    for name, s in zip(names, plan['slices']):
        source = s['sources'][0]
        rules = scale_rules(source.get('parameters'))
        for i in range(*source['layer_range']):
            layer = copy.deepcopy(base_model(name, dtype).model.layers[i])
            for pname, p in layer.named_parameters():
                full = f'model.layers.{len(layers)}.{pname}'
                for r in rules or []:
                    if 'filter' not in r or r['filter'] in full:
                        p.data.mul_(r['value']); break
            layers.append(layer)
    m = copy.deepcopy(first)
    m.model.layers = torch.nn.ModuleList(layers)
    m.config.num_hidden_layers = len(layers)
    for idx, l in enumerate(m.model.layers): l.self_attn.layer_idx = idx
    m.model.norm = copy.deepcopy(last.model.norm)
    if not m.config.tie_word_embeddings: m.lm_head = copy.deepcopy(last.lm_head)
    return m.eval()

report = {'device': dev, 'torch': torch.__version__, 'transformers': __import__('transformers').__version__, 'exports': {}}
ids = torch.tensor([[1, 5, 17, 42, 99, 123, 7, 300, 64, 11, 250, 3]], device=dev)
with torch.no_grad():
    for d in args.exports:
        name = os.path.basename(os.path.normpath(d))
        cfg = json.load(open(os.path.join(d, 'config.json')))
        dtype = {'bfloat16': torch.bfloat16, 'float16': torch.float16}.get(cfg.get('torch_dtype'), torch.float32)
        model, info = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, output_loading_info=True)
        model = model.to(dev).eval()
        got = model(ids, use_cache=False).logits.float()
        want = implied_model(d, dtype)(ids, use_cache=False).logits.float()
        entry = {
            'architecture': cfg['architectures'][0], 'layers': model.config.num_hidden_layers, 'dtype': str(dtype),
            'shards': len([f for f in os.listdir(d) if f.endswith('.safetensors')]),
            'missing_keys': list(info['missing_keys']), 'unexpected_keys': list(info['unexpected_keys']),
            'max_abs_logit_diff_vs_plan': (got - want).abs().max().item(),
        }
        plan = yaml.safe_load(open(os.path.join(d, 'mergekit_config.yml')))
        if 'llama-pro' in name:  # identity blocks: the output must equal the source's
            base = base_model(os.path.basename(os.path.normpath(plan['slices'][0]['sources'][0]['model'])), dtype)
            entry['max_abs_logit_diff_vs_source'] = (got - base(ids, use_cache=False).logits.float()).abs().max().item()
        try:
            tok = AutoTokenizer.from_pretrained(d)
            prompt = tok('Once upon a time', return_tensors='pt').input_ids.to(dev)
            entry['greedy'] = tok.decode(model.generate(prompt, max_new_tokens=30, do_sample=False)[0])
        except Exception as error:  # fixture tokenizers are minimal; only the real model's is checked
            entry['tokenizer'] = f'not loaded: {type(error).__name__}'
        report['exports'][name] = entry
        print(name, json.dumps(entry), flush=True)
if args.out: json.dump(report, open(args.out, 'w'), indent=1)
